/** What every page needs: the API client and the live list model, provided once by App. @module */
import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { Api } from './api.js'
import type { LiveModel } from './live-model.js'

export interface AppServices {
  api: Api
  live: LiveModel
}

export const Services = createContext<AppServices | null>(null)

export function useServices(): AppServices {
  const services = useContext(Services)
  if (!services) throw new Error('useServices() needs <Services.Provider>: render pages inside <App>')
  return services
}
