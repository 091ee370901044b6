-- title: Tasks failed
-- description: Distinct tasks moved to blocked (task.status to=blocked), their attempts or respawns spent and escalated, and not done at the end of the window: a task unblocked and then landed is a success, not a failure.
WITH latest AS (
  -- SQLite takes the bare column from the row holding max(ts)
  SELECT task, json_extract(data, '$.to') AS status, max(ts)
  FROM events
  WHERE kind = 'task.status' AND task IS NOT NULL
    AND ts >= batty_since(:since)
  GROUP BY task
)
SELECT count(*) AS value
FROM latest
WHERE status IS NOT 'done'
  AND task IN (SELECT task FROM events
               WHERE kind = 'task.status'
                 AND json_extract(data, '$.to') = 'blocked'
                 AND ts >= batty_since(:since))
