/**
 * Stand-in for `SavedView` of src/protocol/api.ts, which RUNPAGE adds with the saved-views API
 * (issue 16's contract); the lead replaces this import with the protocol's type at merge.
 */
export interface SavedView {
  id: string;
  name: string;
  state: Record<string, unknown>;
  isDefault: boolean;
  createdAt: number;
  updatedAt: number;
}
