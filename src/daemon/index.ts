export { Daemon, type DaemonOptions } from "./daemon.js";
export { runDaemon, type RunDaemonOptions } from "./main.js";
export { WalWriter } from "./wal-writer.js";
export { Uploader, type UploadStatus } from "./uploader.js";
export { countRecords, DEAD_LETTER_FILE, DEAD_LETTER_NOTES, type Refusal } from "./dead-letter.js";
export { ArtifactQueue, type ArtifactQueueStatus } from "./artifact-queue.js";
