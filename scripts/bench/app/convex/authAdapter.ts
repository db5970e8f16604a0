import { defineAuthAdapter } from "convex-authjs/convex";

export const { createUser, createSession, getSessionAndUser } = defineAuthAdapter();
