/** Entry point of the web UI: builds the API client and the live model, and renders the app. @module */
import { render } from 'preact'
import './styles.css'
import { createApi, liveUrl, tokenFromLocation } from './api.js'
import { App } from './components/App/App.js'
import { createLiveModel } from './live-model.js'

const token = tokenFromLocation(location.search)
const api = createApi({ token })
const live = createLiveModel({ api, url: liveUrl(location, token) })

render(<App services={{ api, live }} />, document.getElementById('app')!)
