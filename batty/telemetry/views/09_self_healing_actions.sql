-- title: Self-healing actions
-- description: Faults doctor found and healed: respawns, stale locks, worktree repairs and the rest (doctor.action).
SELECT count(*) AS value
FROM events
WHERE kind = 'doctor.action'
  AND ts >= batty_since(:since)
