export { Daemon, type DaemonOptions } from "./daemon.js";
export { runDaemon, type RunDaemonOptions } from "./main.js";
export { WalWriter } from "./wal-writer.js";
export { Uploader } from "./uploader.js";
