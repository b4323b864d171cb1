// Time travel: one position shared by the swarm, tasks and memory views. `null` follows the head;
// a number shows the projections as the server folds them up to that position.
import { get, type Query, type SwarmAsOf } from "./api.ts";
import { h, time } from "./dom.ts";

let asOf: number | null = null;

/** Whether the views follow the head (no earlier position chosen). */
export function live(): boolean {
  return asOf === null;
}

/** The projections as of the chosen position, with the view's own filters and paging. */
export function load(query: Query<"/v1/projections/as-of"> = {}): Promise<SwarmAsOf> {
  return get("/v1/projections/as-of", asOf === null ? query : { ...query, position: asOf });
}

/** The slider over positions 1..head, with a button back to the live head. */
export function bar(state: SwarmAsOf, redraw: () => void): HTMLElement {
  const slider = h("input", {
    type: "range",
    id: "as-of",
    min: 1,
    max: Math.max(state.head, 1),
    step: 1,
    value: asOf ?? state.head,
    "aria-describedby": "as-of-label",
  });
  const label = h(
    "output",
    { id: "as-of-label", for: "as-of", "data-testid": "as-of-label" },
    asOf === null
      ? `live: position ${state.position} of ${state.head}`
      : `as of position ${state.position} (${time(state.timestamp)}) of ${state.head}`,
  );
  slider.addEventListener("change", () => {
    const value = Number(slider.value);
    asOf = value >= state.head ? null : value;
    redraw();
  });
  const live = h(
    "button",
    { type: "button", class: "secondary", disabled: asOf === null, onclick: () => ((asOf = null), redraw()) },
    "Back to live",
  );
  return h(
    "div",
    { class: "time-travel", role: "group", "aria-label": "Time travel" },
    h("label", { for: "as-of" }, "Time travel"),
    slider,
    label,
    live,
  );
}
