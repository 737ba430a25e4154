/* http.js - JSON requests to the site from the classrooms pages.
 *
 * postJSON(url, body, token) sends a POST with the CSRF token of the page's
 * form and `Accept: application/json`, and resolves with {ok, status, data}
 * whatever the status (data is the parsed answer, or null); it rejects only
 * when the network fails. */

export function csrfToken(root) {
  const input = (root || document).querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

export async function postJSON(url, body, token) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Accept": "application/json",
      "Content-Type": "application/json",
      "X-CSRFToken": token,
    },
    body: body === undefined ? "{}" : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { ok: response.ok, status: response.status, data: data };
}

/* An element with text (never HTML: what we show came from people). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
