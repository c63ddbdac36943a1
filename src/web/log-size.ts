// How many lines the page's log keeps (view.ts trims it). A module of its own, free of
// the DOM, so that tests can read the numbers.

/**
 * Lines the log keeps while the reader follows the end: a page left open in a busy room
 * would otherwise grow without bound. The oldest go, TRIM_STEP at a time; /history
 * brings them back. While the reader is scrolled up, lines are not taken from under
 * them until the log holds READING_LINES.
 */
export const KEEP_LINES = 2000;
export const TRIM_STEP = 200;
export const READING_LINES = 4 * KEEP_LINES;
