/**
 * The tool's name and version as written into model cards, residual configs and reports.
 * Kept as constants so the engine does not read package.json at run time (it is not shipped
 * beside the bundle); a unit test checks that they match package.json.
 */
export const TOOL_NAME = 'checkpoint-surgeon';
export const TOOL_VERSION = '0.1.0';
