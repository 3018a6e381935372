// Starts Swagger UI on /openapi.json for GET /docs. A file rather than the inline script of
// FastAPI's own /docs, so that the Content-Security-Policy allows scripts from this origin only.
// Deferred, after swagger-ui-bundle.js: SwaggerUIBundle is defined and #swagger-ui parsed.
"use strict";

window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null, // no badge from validator.swagger.io: no request leaves this origin
});
