import type { Metadata } from "next";
import type { ReactNode } from "react";
import { auth } from "@/auth";
import { ConvexClientProvider } from "./ConvexClientProvider";
import "./globals.css";

export const metadata: Metadata = {
  title: "Convex + Auth.js",
  description: "Reference app for convex-authjs on convex-local",
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  // Passing the session lets Convex start authenticated on the first render.
  const session = await auth();
  return (
    <html lang="en">
      <body>
        <ConvexClientProvider session={session}>{children}</ConvexClientProvider>
      </body>
    </html>
  );
}
