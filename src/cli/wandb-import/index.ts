export { registerImportCommands } from "./import-command.js";
export { readWandbLog, hasWandbHeader, WANDB_HEADER, type LogRead, type LogDamage } from "./wandb-log-reader.js";
export { decodeWandbRecord, wandbRecordType, WANDB_SCHEMA_VERSION, type WandbRecord } from "./wandb-schema.js";
export { gatherWandbRun, type WandbRun } from "./wandb-run.js";
export { wandbRunRecords } from "./wandb-records.js";
