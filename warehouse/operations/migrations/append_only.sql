-- The one definition of the append-only triggers. The migration runner creates them for every table a
-- migration names on its "-- append-only:" line, with {table} replaced by that name; such a table has an
-- integer primary key event_id. INSERT OR REPLACE would delete the old row without a delete trigger unless
-- recursive triggers are on, so an insert that reuses an existing id is refused outright.
create trigger {table}_no_update before update on {table} begin select raise(abort, '{table} is append-only: updates are not allowed'); end;
create trigger {table}_no_delete before delete on {table} begin select raise(abort, '{table} is append-only: deletes are not allowed'); end;
create trigger {table}_no_replace before insert on {table} when exists (select 1 from {table} where event_id = new.event_id) begin select raise(abort, '{table} is append-only: event ids are never reused'); end;
