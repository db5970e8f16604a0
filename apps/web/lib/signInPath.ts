/** The app's sign-in page (Auth.js `pages.signIn`), returning to `callbackPath` afterwards. */
export function signInPath(callbackPath: string): string {
  return `/signin?${new URLSearchParams({ callbackUrl: callbackPath })}`;
}
