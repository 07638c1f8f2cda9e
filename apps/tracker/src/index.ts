export { startTrackerServer, type TrackerServer, type TrackerServerOptions } from './server.js';
export { MLFLOW_ENDPOINTS } from './rest-api.js';
