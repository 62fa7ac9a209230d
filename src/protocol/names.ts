import { randomWords } from "./random.js";

// Short, friendly and neutral words; a name is read aloud in stand-ups, so nothing odd or negative.
const ADJECTIVES = [
  "able", "amber", "ancient", "autumn", "azure", "bold", "brave", "bright", "brisk", "calm",
  "clever", "cosmic", "crimson", "crisp", "curious", "dainty", "dapper", "dashing", "eager", "early",
  "easy", "elegant", "fancy", "fast", "fearless", "fluent", "fresh", "gentle", "glad", "golden",
  "graceful", "grand", "happy", "hardy", "honest", "humble", "jolly", "keen", "kind", "likely",
  "lively", "lucky", "lunar", "mellow", "merry", "misty", "modest", "noble", "polar", "proud",
  "quick", "quiet", "rapid", "rare", "ruby", "rustic", "sage", "scarlet", "serene", "sharp",
  "shiny", "silent", "silver", "sleek", "smart", "snowy", "solar", "spry", "steady", "stellar",
  "sunny", "swift", "tidy", "tranquil", "true", "vivid", "warm", "wise", "witty", "zesty",
];
const NOUNS = [
  "aurora", "badger", "bay", "beacon", "bear", "breeze", "brook", "canyon", "cedar", "cloud",
  "comet", "coral", "crane", "creek", "dawn", "delta", "dew", "dolphin", "dream", "dune",
  "eagle", "ember", "falcon", "fern", "field", "firefly", "fjord", "flower", "forest", "fox",
  "frost", "galaxy", "glade", "grove", "harbor", "hawk", "haze", "heron", "hill", "island",
  "lake", "leaf", "lion", "lotus", "lynx", "maple", "meadow", "meteor", "moon", "moss",
  "mountain", "nebula", "oak", "ocean", "orbit", "otter", "owl", "panda", "peak", "pine",
  "planet", "pond", "prairie", "puma", "rain", "river", "sea", "shadow", "sky", "snow",
  "sparrow", "star", "stone", "sun", "surf", "thunder", "tide", "valley", "wave", "wind",
];

/** A display name `adjective-noun-N` (e.g. `likely-lion-9`): friendly, not unique. Not from Math.random (random.ts). */
export function generateRunName(): string {
  const [a, b, c] = randomWords(3);
  return `${ADJECTIVES[a % ADJECTIVES.length]}-${NOUNS[b % NOUNS.length]}-${1 + (c % 99)}`;
}

export const RUN_NAME_PATTERN = /^[a-z]+-[a-z]+-\d+$/;
