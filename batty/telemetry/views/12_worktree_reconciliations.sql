-- title: Worktree reconciliations
-- description: Worktrees reconcile created, removed or repaired to match the board (reconcile.worktree).
SELECT count(*) AS value
FROM events
WHERE kind = 'reconcile.worktree'
  AND ts >= batty_since(:since)
