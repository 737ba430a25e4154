/* loaded.js - the lab's modules all arrived: the count of reloads after a
 * failed download starts again (see the guard in templates/base.html). */

export function loaded() {
  try {
    sessionStorage.removeItem("dockerlab-reloaded:" + location.pathname);
  } catch (e) {
    // No storage (a private window): the guard cannot reload either.
  }
}
