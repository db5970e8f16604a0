import type { AppProps } from "next/app";
import "../app/globals.css";

// The Pages Router's pages do not pass through app/layout.tsx; each wraps itself in the Convex provider.
export default function App({ Component, pageProps }: AppProps) {
  return <Component {...pageProps} />;
}
