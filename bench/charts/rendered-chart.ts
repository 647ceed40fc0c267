/** A chart ready to be written beside latest.md and linked from it. */
export interface RenderedChart {
  /** A file name in bench/results, e.g. "incident-replay-backlog.svg". */
  fileName: string;
  /** Also the image's alt text in the report. */
  title: string;
  svg: string;
}
