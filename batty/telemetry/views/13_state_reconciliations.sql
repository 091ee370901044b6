-- title: State reconciliations
-- description: Task states reconcile corrected so that board, packets and git agree (reconcile.state).
SELECT count(*) AS value
FROM events
WHERE kind = 'reconcile.state'
  AND ts >= batty_since(:since)
