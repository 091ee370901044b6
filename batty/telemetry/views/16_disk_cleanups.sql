-- title: Disk-hygiene cleanups
-- description: Passes that removed old runs and evidence to free disk (disk.cleanup).
SELECT count(*) AS value
FROM events
WHERE kind = 'disk.cleanup'
  AND ts >= batty_since(:since)
