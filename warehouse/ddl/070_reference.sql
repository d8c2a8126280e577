-- official reference geography, loaded by the ETL from a configured directory or the official sources
create table ref_town (
    id varchar primary key,
    city_code varchar not null,
    town varchar not null,
    koaza varchar,
    name varchar not null,
    latitude double not null,
    longitude double not null,
    postal_code varchar
);
comment on table ref_town is '町丁目・大字の代表点 (Geolonia 住所データ, CC BY 4.0, based on 国土交通省 位置参照情報); empty when no reference geography is configured';
comment on column ref_town.id is 'city code + ":" + town name (+ koaza)';
comment on column ref_town.city_code is 'city.code';
comment on column ref_town.town is '町丁目 or 大字 name';
comment on column ref_town.koaza is '小字 name, when the source has one';
comment on column ref_town.name is 'Full name shown to users (town + koaza)';
comment on column ref_town.latitude is 'Representative point latitude, WGS84 degrees';
comment on column ref_town.longitude is 'Representative point longitude, WGS84 degrees';
comment on column ref_town.postal_code is '郵便番号, when the source has one';

create table ref_city_boundary (
    city_code varchar primary key,
    name varchar not null,
    geometry_geojson varchar not null
);
comment on table ref_city_boundary is '行政区域 (国土数値情報 N03) city outlines; empty when no reference geography is configured';
comment on column ref_city_boundary.city_code is 'city.code (N03_007)';
comment on column ref_city_boundary.name is 'City name (N03_004)';
comment on column ref_city_boundary.geometry_geojson is 'Outline as a GeoJSON Polygon or MultiPolygon geometry (WGS84)';

create table ref_source (
    dataset varchar primary key,
    location varchar not null,
    licence varchar not null,
    credit varchar not null,
    sha256 varchar not null
);
comment on table ref_source is 'Provenance and required credits of the loaded reference geography';
comment on column ref_source.dataset is 'towns or boundaries';
comment on column ref_source.location is 'Directory the files were read from';
comment on column ref_source.licence is 'Licence of the dataset';
comment on column ref_source.credit is 'Credit line that must be shown with the data';
comment on column ref_source.sha256 is 'sha256 over the dataset''s files (names and bytes)';
