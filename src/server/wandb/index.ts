export { registerWandbRoutes, WANDB_BODY_LIMIT, WANDB_UPLOAD_LIMIT, type WandbRouteOptions } from "./routes.js";
export { splitConfig, wrapConfig } from "./config-shape.js";
