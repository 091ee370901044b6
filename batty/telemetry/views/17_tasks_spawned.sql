-- title: Tasks spawned
-- description: Distinct tasks created, by a person or by a planner splitting an epic (task.created).
SELECT count(DISTINCT task) AS value
FROM events
WHERE kind = 'task.created'
  AND ts >= batty_since(:since)
