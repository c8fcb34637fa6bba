// Every error code the API answers (openapi.yaml, Failure.error), in words a person can act on. A test
// (tests/api/browsers.rs) keeps this list equal to the contract's.
export const ERROR_WORDS = {
  MISSINGPARA: "Something is missing from the form.",
  BADREQUEST: "The request was not understood.",
  BADJSON: "The request was not understood (malformed JSON).",
  TOOLARGE: "That is too large: try a smaller file or fewer numbers at once.",
  BADPHONE: "That is not a phone number we can read. Start with + and the country code.",
  BADAPPID: "This app is not the one this server expects.",
  COUNTRYBLOCKED: "Sign-in is not offered for numbers of that country.",
  BADCODE: "That code is wrong.",
  CODEEXPIRED: "That code has expired: ask for a new one.",
  TOOMANYATTEMPTS: "Too many wrong codes: ask for a new one.",
  RATELIMIT: "Too many requests: please wait a little.",
  SMSFAIL: "The text message could not be sent. Try again shortly.",
  SMSBUDGET: "No more text messages can be sent today. Try again later.",
  UNAVAILABLE: "The service is unavailable right now. Try again shortly.",
  AUTHFAIL: "You are signed out: please sign in again.",
  TOOMANY: "That is too many at once.",
  BADGROUP: "That group does not exist (any more).",
  NOTMEMBER: "You are not a member of that group.",
  NOTADMIN: "Only the group's owner or admins can do that.",
  NOOP: "Nothing to change.",
  BADOP: "This server does not know that operation.",
  MISSINGAPPID: "The app did not say which app it is.",
  MESIBOFAIL: "The messaging service did not answer. Try again shortly; nothing was changed.",
  MISSINGFILE: "Choose a file first.",
  BADIMAGE: "That file is not a picture we can read.",
  BADFILETYPE: "That kind of file is not accepted.",
  NOTFOUND: "That file does not exist.",
  NOTCONTACT: "You can only add contacts who use the app.",
  RECENTLYLEFT: "Someone left or was removed recently and cannot be added back yet.",
  NOTMOBILE: "That number cannot receive text messages (not a mobile number).",
  DIRECTACCESS: "This address is not the app's: use the address the app was given.",
  NOROUTE: "This server does not offer that here.",
};

// Failures of this page's own, before any answer.
const CLIENT_WORDS = {
  NETWORK: (answer) => `Cannot reach the server: ${answer.errmsg}.`,
  HTTP: (answer) =>
    answer.status === 429
      ? ERROR_WORDS.RATELIMIT
      : answer.status === 413
        ? ERROR_WORDS.TOOLARGE
        : answer.status >= 500
          ? ERROR_WORDS.UNAVAILABLE
          : `The server refused the request (${answer.errmsg}).`,
};

/** The words for an answer's error, with the wait when the server gave one. */
export function errorWords(answer) {
  const words =
    ERROR_WORDS[answer.error] ??
    CLIENT_WORDS[answer.error]?.(answer) ??
    `The server refused: ${answer.errmsg ?? answer.error ?? "unknown error"}.`;
  if (answer.retry_after) return `${words} (Try again in ${formatWait(answer.retry_after)}.)`;
  if (answer.error === "BADCODE" && answer.attempts_left !== undefined) {
    return `${words} ${answer.attempts_left} ${answer.attempts_left === 1 ? "try" : "tries"} left.`;
  }
  return words;
}

function formatWait(seconds) {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}
