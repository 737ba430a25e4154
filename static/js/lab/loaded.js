/* loaded.js - the lab's modules all arrived: a later download failure may
 * reload the page once again (see the loader guard in templates/base.html). */

export function loaded() {
  try {
    sessionStorage.removeItem("dockerlab-reloaded:" + location.pathname);
  } catch (e) {
    // No storage (a private window): the guard cannot reload either.
  }
}
