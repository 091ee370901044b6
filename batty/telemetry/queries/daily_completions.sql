-- title: Daily completions
-- description: Tasks completed end-to-end on each local day (telemetry.timezone).
SELECT day, count(DISTINCT task) AS completions
FROM events
WHERE kind = 'task.status'
  AND json_extract(data, '$.to') = 'done'
  AND json_extract(data, '$.by') = 'merge'
  AND ts >= batty_since(:since)
GROUP BY day
ORDER BY day
