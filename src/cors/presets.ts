/** Built-in CORS settings; explicit keys in a route's `cors` replace the preset's. */
export interface CorsPreset {
  methods: string[]
  allowHeaders: string[]
  exposeHeaders: string[]
  maxAgeSeconds: number
}

export const PRESETS: Record<'openstack' | 'exosphere-uap', CorsPreset> = {
  // What Exosphere's browser client sends to OpenStack APIs through the Cloud CORS Proxy.
  openstack: {
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    allowHeaders: [
      'Content-Type', 'X-Auth-Token', 'X-Subject-Token', 'OpenStack-API-Version', 'X-OpenStack-Nova-API-Version',
      'X-OpenStack-Manila-API-Version', 'X-Auth-User', 'X-Auth-Key', 'exo-proxy-orig-host', 'exo-proxy-orig-port'
    ],
    exposeHeaders: ['X-Subject-Token', 'OpenStack-API-Version', 'X-OpenStack-Request-Id'],
    maxAgeSeconds: 86_400
  },
  // Exosphere's UAP nginx config (deploy/prod/uap/app.conf).
  'exosphere-uap': {
    methods: ['GET', 'POST', 'OPTIONS', 'HEAD'],
    allowHeaders: ['Authorization', 'Origin', 'X-Requested-With', 'Content-Type', 'Accept', 'X-Is-Electron'],
    exposeHeaders: [],
    maxAgeSeconds: 86_400
  }
}

/** Without a preset: the CORS-safelisted methods; no extra request headers until configured. */
export const NO_PRESET: CorsPreset = { methods: ['GET', 'HEAD', 'POST'], allowHeaders: [], exposeHeaders: [], maxAgeSeconds: 600 }
