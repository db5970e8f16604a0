import { cronJobs } from "convex/server";
import { scheduleAuthCleanup } from "convex-authjs/convex";

const crons = cronJobs();
// Deletes expired sessions and verification tokens (authAdapter:deleteExpiredAuthData).
scheduleAuthCleanup(crons);
export default crons;
