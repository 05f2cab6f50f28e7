-- New jobs and their changes stay in few pages, however many finished jobs the table holds.
-- depends: 0016.company-reads
--
-- A page filled by earlier jobs keeps a small gap (less than a row of theirs), and the free
-- space map offers it to any row that fits. With a million finished jobs that is tens of
-- thousands of pages: a backlog of 20,000 new jobs, their claims and their finishes went into
-- 7,145 of them (619 on an empty table), so every claim read pages that no longer were in
-- shared buffers, and the claim statement alone ran at 0.74x of its speed on an empty table,
-- every one of six pairs measured back to back (bench/history.py, BENCHMARKS.md "Flat with
-- history"). With 10 % of each page kept free, a page is offered to a new row only when it has
-- that much room beside the row: old pages' gaps never qualify, the queue's rows stay in ~680
-- pages, and the claim ran at 1.05x. The reserve also lets a job's next version (claim,
-- progress, finish) stay on its page more often.
--
-- Only rows written from now on honour it; changing it rewrites nothing and takes no lock
-- that a reader or writer waits for.

ALTER TABLE content_jobs SET (fillfactor = 90);
