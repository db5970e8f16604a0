// Input limits shared by the Convex functions that enforce them and the pages that show them.
// No server imports here: client components import this file.

export const MAX_NOTE_LENGTH = 2000;
