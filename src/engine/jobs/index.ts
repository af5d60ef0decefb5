/** The engine's jobs: what the CLI, the worker and the tests call. */
export { runApply } from './apply';
export { runCard } from './card';
export { runCompute } from './compute';
export { runDiff } from './diff';
export { runInspect } from './inspect';
export { runLora } from './lora';
export { runVerify } from './verify';
