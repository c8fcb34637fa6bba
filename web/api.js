// The API, as the app calls it: JSON bodies (a multipart body for a photo) and the token as a Bearer header.
import { API_URL } from "./config.js";
import { errorWords } from "./errors.js";

export class ApiError extends Error {
  constructor(answer) {
    super(errorWords(answer));
    this.code = answer.error;
    this.answer = answer;
  }
}

/** POSTs `params` to /<op>; resolves to the answer, or rejects with an ApiError whose message is in words. */
export async function call(op, params = {}, { token, file } = {}) {
  const headers = {};
  let body;
  if (file) {
    body = new FormData();
    for (const [name, value] of Object.entries(params)) body.append(name, value);
    body.append("photo", file, file.name);
  } else {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(params);
  }
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`${API_URL}/${op}`, { method: "POST", headers, body });
  } catch {
    throw new ApiError({ error: "NETWORK", errmsg: `cannot reach the API at ${API_URL || location.origin}` });
  }
  let answer;
  try {
    answer = await response.json();
  } catch {
    answer = {};
  }
  if (answer.result === "OK") return answer;
  // API Gateway's and WAF's own refusals (a throttle, a body too large) carry {"message"} or nothing, not ours.
  if (!answer.error) answer = { error: "HTTP", status: response.status, errmsg: answer.message ?? `HTTP ${response.status}` };
  throw new ApiError(answer);
}

/** The live panel's lines after `after` (make dev only: null when this server has no panel). */
export async function liveLines(after) {
  if (API_URL && new URL(API_URL).origin !== location.origin) return null;
  const response = await fetch(`/_dev/live?after=${after}`);
  if (!response.ok) return null;
  return (await response.json()).lines;
}
