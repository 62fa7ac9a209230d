/**
 * A slider over the steps that hold a value (not over every integer between the first and the
 * last: a key logged every 100 steps moves one logged step per notch), with the step it stands
 * on and buttons for the one before and after.
 */

interface Props {
  /** Ascending steps. */
  steps: number[];
  /** The step shown (one of `steps`). */
  step: number;
  onStep: (step: number) => void;
  /** What the slider moves through (its accessible name: "Step of samples/input"). */
  label: string;
}

export function StepSlider({ steps, step, onStep, label }: Props) {
  if (steps.length === 0) return null;
  const i = Math.max(0, steps.indexOf(step));
  const go = (j: number) => onStep(steps[Math.max(0, Math.min(steps.length - 1, j))]);
  return (
    <div class="step-slider">
      <button type="button" class="link" aria-label={`Previous step of ${label}`} disabled={i === 0} onClick={() => go(i - 1)}>
        ◀
      </button>
      <input type="range" aria-label={`Step of ${label}`} min={0} max={steps.length - 1} step={1} value={i} disabled={steps.length < 2} onInput={(e) => go(Number(e.currentTarget.value))} />
      <button type="button" class="link" aria-label={`Next step of ${label}`} disabled={i === steps.length - 1} onClick={() => go(i + 1)}>
        ▶
      </button>
      <span class="muted" data-step={step}>
        Step {step.toLocaleString("en")} <span class="steps-of">({i + 1} of {steps.length.toLocaleString("en")})</span>
      </span>
    </div>
  );
}
