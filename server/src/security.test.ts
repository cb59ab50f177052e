import { hostname } from 'node:os'
import { describe, expect, it } from 'vitest'
import { createSecurity, hostName, isLoopbackHost } from './security.js'

describe('Host rules (DNS rebinding)', () => {
  it('reads the name out of a Host header with or without a port', () => {
    expect(hostName('Example.COM:8321')).toBe('example.com')
    expect(hostName('[::1]:80')).toBe('::1')
    expect(hostName('localhost.')).toBe('localhost')
  })

  it('accepts loopback names on any port and nothing else by default', () => {
    const security = createSecurity()
    for (const host of ['localhost', 'localhost:1', '127.0.0.1:8321', '127.1.2.3', '[::1]:8321', 'app.localhost:3000']) {
      expect(() => security.checkHost(host)).not.toThrow()
    }
    for (const host of ['evil.example', '127.0.0.1.evil.example', '10.0.0.5:8321', '', undefined]) {
      expect(() => security.checkHost(host)).toThrow(/DNS rebinding/)
    }
  })

  it('also accepts the name given with --host', () => {
    const security = createSecurity({ host: 'devbox.lan' })
    expect(() => security.checkHost('devbox.lan:8321')).not.toThrow()
    expect(() => security.checkHost('other.lan:8321')).toThrow(/--host/)
  })

  it('accepts the machine name and its addresses when bound to every interface', () => {
    const security = createSecurity({ host: '0.0.0.0' })
    expect(() => security.checkHost(`${hostname()}:8321`)).not.toThrow()
    expect(() => security.checkHost('evil.example')).toThrow()
  })
})

describe('tokens and origins', () => {
  it('accepts the bearer token in the header or, for the live socket, as ?token=', () => {
    const security = createSecurity({ token: 't0k' })
    expect(() => security.checkToken('Bearer t0k')).not.toThrow()
    expect(() => security.checkToken(undefined, 't0k')).not.toThrow()
    expect(() => security.checkToken('Bearer nope')).toThrow(/does not match/)
    expect(() => security.checkToken(undefined)).toThrow(/Authorization: Bearer/)
    expect(() => createSecurity().checkToken(undefined)).not.toThrow()
  })

  it('allows the server itself and the origins agents reported, and no one else', () => {
    const security = createSecurity({ isKnownOrigin: (origin) => origin === 'http://127.0.0.1:8000' })
    expect(() => security.checkOrigin(undefined, 'localhost:8321')).not.toThrow()
    expect(() => security.checkOrigin('http://localhost:8321', 'localhost:8321')).not.toThrow()
    expect(() => security.checkOrigin('http://127.0.0.1:8000', 'localhost:8321')).not.toThrow()
    expect(() => security.checkOrigin('http://localhost:9999', 'localhost:8321')).toThrow(/may not use/)
    expect(() => security.checkOrigin('null', 'localhost:8321')).toThrow()
    expect(security.corsOrigin('http://127.0.0.1:8000')).toBe('http://127.0.0.1:8000')
    expect(security.corsOrigin('http://evil.example')).toBeNull()
  })
})

describe('loopback bind addresses', () => {
  it('tells loopback addresses from exposed ones', () => {
    expect(['127.0.0.1', 'localhost', '::1', '[::1]'].map(isLoopbackHost)).toEqual([true, true, true, true])
    expect(['0.0.0.0', '::', '192.168.1.5', 'devbox.lan'].map(isLoopbackHost)).toEqual([false, false, false, false])
  })
})
