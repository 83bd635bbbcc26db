// The gateway's Swagger UI. Relative URLs, so the page works under any path prefix of GATEWAY_PUBLIC_URL.
// queryConfigEnabled stays false: `/docs?url=https://elsewhere/...` must never render a foreign document on
// the gateway's origin (the spoofing flaw of Swagger UI releases before 4.1.3).
window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  queryConfigEnabled: false,
  deepLinking: false,
});
