export * from './maps.js';
export * from './arrow.js';
export * from './colors.js';
export * from './charts.js';
export * from './html.js';
export { withTextChunk } from './painter.js';
