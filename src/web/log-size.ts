// How many lines the page's log keeps (view.ts trims it). A module of its own, free of
// the DOM, so that tests can read the numbers.

/**
 * Lines the log keeps while the reader follows the end: a page left open in a busy room
 * would otherwise grow without bound. The oldest go, TRIM_STEP at a time; /history
 * brings them back.
 */
export const KEEP_LINES = 2000;
export const TRIM_STEP = 200;
/**
 * Lines kept while the reader is scrolled up, or has paged back with /history (until
 * they next send): what they went back for is not taken away as new lines come. Past
 * it, only lines above the ones on screen go.
 */
export const READING_LINES = 4 * KEEP_LINES;
/** Never more than this: a reader sitting at the oldest line of a busy room loses it then. */
export const MOST_LINES = READING_LINES + KEEP_LINES;
