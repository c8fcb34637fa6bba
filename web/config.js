// The web client's one setting: the API's address. Empty means the page's own origin (make dev serves both at
// http://127.0.0.1:3000). Deployed elsewhere, set it to the API's URL (the stack's ApiUrl or FrontDoorUrl output)
// and list this page's origin in the stack's AllowedOrigins parameter (or leave that at *).
export const API_URL = "";
