-- title: Heartbeats
-- description: Ticks that ran to the end (tick.finished), one a minute under cron.
SELECT count(*) AS value
FROM events
WHERE kind = 'tick.finished'
  AND ts >= batty_since(:since)
