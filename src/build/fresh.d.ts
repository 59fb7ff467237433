/** See fresh.js. */
export function isStale(output: string, root: string): boolean;
