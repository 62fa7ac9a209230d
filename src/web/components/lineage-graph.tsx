import type { ArtifactRunLink } from "../../protocol/artifacts";
import { runHref } from "../lib/api";

/** Runs drawn on each side; more are counted in a last box (the tables below list them all). */
const MAX_SIDE = 8;
const NODE_W = 210;
const NODE_H = 34;
const GAP_Y = 12;
const COL_GAP = 90;
/** Characters of a label that fit NODE_W at 13px; the whole text is the node's tooltip. */
const LABEL_CHARS = 26;

const clip = (s: string) => (s.length > LABEL_CHARS ? `${s.slice(0, LABEL_CHARS - 1)}…` : s);

interface Node {
  x: number;
  y: number;
  label: string;
  sub: string;
  href: string | null;
  kind: "run" | "artifact" | "more";
  state?: string;
}

function column(runs: ArtifactRunLink[], x: number, height: number): Node[] {
  const shown = runs.slice(0, MAX_SIDE);
  const nodes: Node[] = shown.map((r) => ({
    x,
    y: 0,
    label: r.name,
    sub: `${r.entity}/${r.project}/${r.id}`,
    href: runHref(r.entity, r.project, r.id),
    kind: "run",
    state: r.state,
  }));
  if (runs.length > shown.length) nodes.push({ x, y: 0, label: `+${runs.length - shown.length} more`, sub: "listed below", href: null, kind: "more" });
  const top = (height - (nodes.length * NODE_H + (nodes.length - 1) * GAP_Y)) / 2;
  nodes.forEach((n, i) => (n.y = top + i * (NODE_H + GAP_Y)));
  return nodes;
}

function Box({ node }: { node: Node }) {
  const body = (
    <g class={`node ${node.kind}${node.state ? ` state-${node.state}` : ""}`} data-node={node.kind}>
      <title>{`${node.label}\n${node.sub}`}</title>
      <rect x={node.x} y={node.y} width={NODE_W} height={NODE_H} rx={6} />
      <text x={node.x + 10} y={node.y + 14}>
        {clip(node.label)}
      </text>
      <text class="sub" x={node.x + 10} y={node.y + 28}>
        {clip(node.sub)}
      </text>
    </g>
  );
  return node.href ? <a href={node.href}>{body}</a> : body;
}

/** A line with an arrow head from the right edge of `a` to the left edge of `b`. */
function Edge({ a, b }: { a: Node; b: Node }) {
  const x1 = a.x + NODE_W;
  const y1 = a.y + NODE_H / 2;
  const x2 = b.x - 2;
  const y2 = b.y + NODE_H / 2;
  const mid = (x1 + x2) / 2;
  return <path class="edge" d={`M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`} marker-end="url(#lineage-arrow)" />;
}

/**
 * The lineage of one version as a small graph: the runs that logged it (left) -> the version
 * (middle) -> the runs that used it (right), each run linked to its page. Drawn as plain SVG:
 * three columns need no graph-layout library.
 */
export function LineageGraph(props: { artifact: string; type: string; producedBy: ArtifactRunLink[]; usedBy: ArtifactRunLink[] }) {
  const rows = Math.max(1, Math.min(props.producedBy.length, MAX_SIDE + 1), Math.min(props.usedBy.length, MAX_SIDE + 1));
  const height = rows * NODE_H + (rows - 1) * GAP_Y + 16;
  const width = 3 * NODE_W + 2 * COL_GAP + 4;
  const left = column(props.producedBy, 2, height);
  const right = column(props.usedBy, 2 + 2 * (NODE_W + COL_GAP), height);
  const center: Node = { x: 2 + NODE_W + COL_GAP, y: (height - NODE_H) / 2, label: props.artifact, sub: props.type, href: null, kind: "artifact" };
  return (
    <svg class="lineage" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`Lineage of ${props.artifact}`}>
      <defs>
        <marker id="lineage-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" />
        </marker>
      </defs>
      {left.map((n, i) => (
        <Edge a={n} b={center} key={`l${i}`} />
      ))}
      {right.map((n, i) => (
        <Edge a={center} b={n} key={`r${i}`} />
      ))}
      {left.map((n, i) => (
        <Box node={n} key={`ln${i}`} />
      ))}
      <Box node={center} />
      {right.map((n, i) => (
        <Box node={n} key={`rn${i}`} />
      ))}
      {left.length === 0 ? (
        <text class="none" x={2} y={height / 2 + 4}>
          no run logged it
        </text>
      ) : null}
      {right.length === 0 ? (
        <text class="none" x={center.x + NODE_W + COL_GAP} y={height / 2 + 4}>
          no run has used it
        </text>
      ) : null}
    </svg>
  );
}
