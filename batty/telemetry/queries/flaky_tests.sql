-- title: Flaky tests
-- description: Tests that failed and then passed on a rerun of the same tree (verify.flaky data.tests), how often, and their flake rate: flakes per verify run of their check (verify.phase check:NAME).
-- shape: rows
WITH flakes AS (
  SELECT j.value AS test, json_extract(e.data, '$.check') AS check_name, count(*) AS flakes,
         max(e.ts) AS last_seen
  FROM events AS e, json_each(e.data, '$.tests') AS j
  WHERE e.kind = 'verify.flaky'
    AND e.ts >= batty_since(:since)
  GROUP BY j.value, json_extract(e.data, '$.check')
), runs AS (
  SELECT substr(json_extract(data, '$.phase'), 7) AS check_name, count(*) AS runs
  FROM events
  WHERE kind = 'verify.phase' AND json_extract(data, '$.phase') LIKE 'check:%'
    AND ts >= batty_since(:since)
  GROUP BY substr(json_extract(data, '$.phase'), 7)
)
SELECT flakes.test, flakes.check_name, flakes.flakes, coalesce(runs.runs, 0) AS runs,
       round(1.0 * flakes.flakes / max(coalesce(runs.runs, 0), flakes.flakes), 3) AS flake_rate,
       flakes.last_seen
FROM flakes LEFT JOIN runs USING (check_name)
ORDER BY flakes.flakes DESC, flakes.test
LIMIT 50
