"use client";

import { useMutation, usePreloadedQuery, useQuery, type Preloaded } from "convex/react";
import { ConvexError } from "convex/values";
import { useState, type FormEvent } from "react";
import { api } from "@/convex/_generated/api";
import { MAX_NOTE_LENGTH } from "@/convex/limits";
import type { Doc } from "@/convex/_generated/dataModel";

/** The message of a ConvexError thrown by convex/notes.ts, or a generic one. */
function messageOf(error: unknown): string {
  if (error instanceof ConvexError) {
    const data = error.data as { message?: string } | string;
    return typeof data === "string" ? data : (data.message ?? "Something went wrong.");
  }
  return "Something went wrong. Please try again.";
}

/** The user's notes, live: loaded by the browser's Convex client. */
export function Notes() {
  return <NotesEditor notes={useQuery(api.notes.list)} />;
}

/** The same, starting from the server's preloadQuery result, then live like `Notes`. */
export function PreloadedNotes({ preloaded }: { preloaded: Preloaded<typeof api.notes.list> }) {
  return <NotesEditor notes={usePreloadedQuery(preloaded)} />;
}

function NotesEditor({ notes }: { notes: Doc<"notes">[] | undefined }) {
  const create = useMutation(api.notes.create);
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      await create({ text });
      setText("");
    } catch (e) {
      setError(messageOf(e));
    }
  }

  return (
    <section>
      <form onSubmit={onSubmit}>
        <textarea value={text} onChange={(e) => setText(e.target.value)} rows={3} placeholder="Write a note…" aria-label="New note" />
        <button type="submit">Add note</button>{" "}
        <span className="muted">
          {text.trim().length} / {MAX_NOTE_LENGTH}
        </span>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </form>
      {notes === undefined ? (
        <p>Loading notes…</p>
      ) : notes.length === 0 ? (
        <p>No notes yet.</p>
      ) : (
        <ul className="notes">
          {notes.map((note) => (
            <NoteItem key={note._id} note={note} />
          ))}
        </ul>
      )}
    </section>
  );
}

function NoteItem({ note }: { note: Doc<"notes"> }) {
  const update = useMutation(api.notes.update);
  const remove = useMutation(api.notes.remove);
  const [draft, setDraft] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function run(action: () => Promise<unknown>) {
    setError(null);
    try {
      await action();
      setDraft(null);
    } catch (e) {
      setError(messageOf(e));
    }
  }

  return (
    <li>
      {draft === null ? (
        <span>{note.text}</span>
      ) : (
        <input value={draft} onChange={(e) => setDraft(e.target.value)} aria-label="Edit note" />
      )}
      {draft === null ? (
        <button onClick={() => setDraft(note.text)}>Edit</button>
      ) : (
        <>
          <button onClick={() => run(() => update({ id: note._id, text: draft }))}>Save</button>
          <button onClick={() => setDraft(null)}>Cancel</button>
        </>
      )}
      <button onClick={() => run(() => remove({ id: note._id }))}>Delete</button>
      {error && (
        <span className="error" role="alert">
          {error}
        </span>
      )}
    </li>
  );
}
