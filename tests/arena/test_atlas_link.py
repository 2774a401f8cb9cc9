from archlab.atlas.build import ARENA_PAGE, build_atlas


def test_the_atlas_links_the_arena_page_only_when_its_folder_holds_one(tmp_path):
    page = build_atlas([], tmp_path).read_text()
    assert ARENA_PAGE not in page
    (tmp_path / "arena").mkdir()
    (tmp_path / ARENA_PAGE).write_text("<html></html>")
    page = build_atlas([], tmp_path).read_text()
    assert f'<a href="{ARENA_PAGE}">' in page
    assert (tmp_path / ARENA_PAGE).read_text() == "<html></html>"  # the atlas links the arena, never rewrites it
