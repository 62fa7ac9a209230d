/**
 * trackside: track machine-learning runs from TypeScript and Node.js.
 * @example
 * import * as trackside from "trackside";
 * const run = await trackside.init({ project: "mnist", config: { lr: 1e-3 } });
 * run.log({ loss: 0.3, acc: 0.9 });
 * await run.finish();
 */
export { init, finish, active as run } from "./init.js";
export { Run, type FinishResult } from "./run.js";
export { artifact, Artifact, type ArtifactOptions } from "./artifact.js";
export type { LoggedArtifact, UsedArtifact } from "./artifact-run.js";
export type { InitOptions, AdvancedSettings, Mode, ResumeMode } from "./settings.js";
export type { LogOptions } from "./history.js";
export { Image, Histogram, Table, ImageMedia, HistogramMedia, TableMedia, type ImageOptions, type ImageData, type HistogramData, type TableCellInput } from "./media.js";
export type { Config, Summary } from "./run-state.js";
export { TracksideError, isTracksideError, ERROR_CODES, type ErrorCode } from "../protocol/errors.js";
export type { RunState } from "../protocol/records.js";
