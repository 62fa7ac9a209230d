import { useEffect, useState } from "preact/hooks";
import type { Privacy, ProjectSettingsView } from "../../protocol/api";
import { get, patch } from "../lib/api";

/**
 * A project's "default privacy of new runs" (`GET`/`PATCH /api/v1/projects/:entity/:project`):
 * a setting for those who administer the project (the entity's user, a team's admins), a plain
 * sentence for everyone else who may read it.
 */
export function DefaultPrivacy({ entity, project }: { entity: string; project: string }) {
  const path = `/projects/${encodeURIComponent(entity)}/${encodeURIComponent(project)}`;
  const [settings, setSettings] = useState<ProjectSettingsView | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    get<ProjectSettingsView>(path).then(setSettings, (e: Error) => setError(e.message));
  }, [path]);
  const change = (defaultPrivacy: Privacy) =>
    patch<ProjectSettingsView>(path, { defaultPrivacy }).then(
      (s) => (setSettings(s), setError(null)),
      (e: Error) => setError(e.message),
    );
  if (!settings) return error ? <p class="error">{error}</p> : null;
  return (
    <p class="project-settings" data-default-privacy={settings.defaultPrivacy}>
      {settings.canAdminister ? (
        <label>
          Default privacy of new runs{" "}
          <select aria-label="Default privacy of new runs" value={settings.defaultPrivacy} onChange={(e) => void change(e.currentTarget.value as Privacy)}>
            <option value="private">Private: only its owner or team can view</option>
            <option value="public">Public: anyone can view</option>
          </select>
        </label>
      ) : (
        <span class="muted">New runs in this project are {settings.defaultPrivacy}.</span>
      )}
      {error ? <span class="error"> {error}</span> : null}
    </p>
  );
}
