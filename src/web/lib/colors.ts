/**
 * A stable colour per run: the same run id gets the same colour on every page and in every
 * chart, whatever else is drawn beside it (a hash of the id picks from the palette, not the
 * series' position, which changes as runs are shown and hidden).
 */

/** Tableau's 10 colours, then 10 darker ones: distinct on white and for most colour-blind readers. */
const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
  "#1f4e79", "#b35806", "#a50f15", "#2c7f7a", "#2d6a1f", "#a68a00", "#6a3d7a", "#c2185b", "#5d4037", "#616161",
];

/**
 * The colour of a run (or a group) by its id.
 *
 * @example
 * colorFor("done0001") === colorFor("done0001") // true, on every page
 */
export function colorFor(id: string): string {
  // FNV-1a: cheap, and spreads similar ids (run0001, run0002) over the palette.
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return PALETTE[(h >>> 0) % PALETTE.length];
}
