// The Erlang program deliver runs on the build host (with the build host's escript, so with the OTP the release
// was built with): appups from two releases' beams, the relup (systools:make_relup) and the relup check. It is
// written to a temp file there and run as `escript FILE COMMAND ARGS…`; tests run it with the local escript.
export const UPGRADE_ESCRIPT_NAME = 'deliver_upgrade.erl';

export const UPGRADE_ESCRIPT = String.raw`%% deliver's upgrade helper, run with the build host's escript (its OTP). Commands:
%%   appups OLD_ROOT NEW_ROOT REL OLD_VSN NEW_VSN PROJECT_DIR BUILD_LIB IN_FILE OUT_FILE
%%   relup  OLD_ROOT NEW_ROOT REL OLD_VSN NEW_VSN
%%   check  RELUP_FILE OLD_VSN NEW_VSN
%% IN_FILE/OUT_FILE ("-" for none): appups as {App, Appup}. terms (the store's APP_OLD~NEW.appups). BUILD_LIB
%% ("-" for none): rebar3's _build/PROFILE/lib, where rebar3 relup takes the appups from when it reassembles.
-mode(compile).
-define(GENERATED, "%% written by deliver build upgrade/appups\n").

main(["appups", Old, New, Rel, OldVsn, NewVsn, Project, BuildLib, In, Out]) ->
    run(fun() -> appups(Old, New, Rel, OldVsn, NewVsn, {Project, BuildLib}, In, Out) end);
main(["check", Relup, OldVsn, NewVsn]) ->
    run(fun() -> check_relup(Relup, OldVsn, NewVsn) end);
main(["relup", Old, New, Rel, OldVsn, NewVsn]) ->
    run(fun() -> relup(Old, New, Rel, OldVsn, NewVsn) end);
main(Args) ->
    fail("usage: unknown arguments ~p", [Args]).

run(F) ->
    try F(), halt(0)
    catch throw:{deliver, Msg} -> io:format(standard_error, "error: ~ts~n", [Msg]), halt(1)
    end.

fail(Fmt, Args) -> throw({deliver, lists:flatten(io_lib:format(Fmt, Args))}).

%% ---- releases ----

rel_file(Root, Rel, Vsn) -> filename:join([Root, "releases", Vsn, Rel ++ ".rel"]).

%% release_handler runs only where sasl is started: in the .rel as {sasl, Vsn} or with a start type.
started_sasl(Root, Rel, Vsn) ->
    {ok, [{release, _, _, Apps}]} = file:consult(rel_file(Root, Rel, Vsn)),
    lists:any(fun({sasl, _}) -> true;
                 ({sasl, _, T}) when is_atom(T) -> lists:member(T, [permanent, transient, temporary]);
                 ({sasl, _, T, _}) -> lists:member(T, [permanent, transient, temporary]);
                 (_) -> false
              end, Apps).

check_sasl(Old, New, Rel, OldVsn, NewVsn) ->
    _ = [fail("the release ~ts has no sasl: release_handler cannot install upgrades on it", [V])
         || {R, V} <- [{Old, OldVsn}, {New, NewVsn}], not started_sasl(R, Rel, V)],
    ok.

read_rel(Root, Rel, Vsn) ->
    File = rel_file(Root, Rel, Vsn),
    case file:consult(File) of
        {ok, [{release, {_, Vsn}, {erts, Erts}, Apps}]} ->
            {Erts, [{element(1, App), element(2, App)} || App <- Apps]};
        {ok, [{release, {_, Other}, _, _}]} -> fail("~ts names version ~ts, expected ~ts", [File, Other, Vsn]);
        {error, R} -> fail("cannot read ~ts: ~ts", [File, file:format_error(R)])
    end.

ebin(Root, App, Vsn) -> filename:join([Root, "lib", atom_to_list(App) ++ "-" ++ Vsn, "ebin"]).

%% ---- appups ----

appups(Old, New, Rel, OldVsn, NewVsn, Project, In, Out) ->
    {_, OldApps} = read_rel(Old, Rel, OldVsn),
    {_, NewApps} = read_rel(New, Rel, NewVsn),
    check_sasl(Old, New, Rel, OldVsn, NewVsn),
    Given = given(In),
    Unchanged = [A || {A, V} <- NewApps, lists:member({A, V}, OldApps), changed_modules(Old, New, A, V, V) =/= []],
    Unchanged =:= [] orelse
        fail("application(s) ~ts changed their code but not their version (release_handler cannot upgrade them): "
             "bump their vsn", [join([atom_to_list(A) ++ "-" ++ V || A <- Unchanged, {A1, V} <- NewApps, A1 =:= A])]),
    Pairs = [{A, OV, NV} || {A, NV} <- NewApps, {A1, OV} <- OldApps, A1 =:= A, OV =/= NV],
    Written = [appup(Old, New, P, Project, Given) || P <- Pairs],
    Out =:= "-" orelse
        ok =:= file:write_file(Out, [io_lib:format("~tp.~n", [{A, U}]) || {A, _, U} <- Written]) orelse
        fail("cannot write ~ts", [Out]),
    [io:format("appup ~s ~s ~s ~s~n", [A, OV, NV, Src]) || {{A, OV, NV}, {_, Src, _}} <- lists:zip(Pairs, Written)],
    ok.

given("-") -> [];
given(File) ->
    case file:consult(File) of
        {ok, Terms} -> Terms;
        {error, R} -> fail("cannot read the stored appups ~ts: ~ts", [File, format(R)])
    end.

format({L, M, D}) when is_integer(L) -> io_lib:format("line ~p: ~ts", [L, M:format_error(D)]);
format(R) -> file:format_error(R).

%% The user's appup (the build's ebin, the project's src/APP.appup.src, the store's), else a generated one.
appup(Old, New, {App, OV, NV}, {Project, BuildLib}, Given) ->
    Ebin = ebin(New, App, NV),
    Target = filename:join(Ebin, atom_to_list(App) ++ ".appup"),
    {Src, Appup} =
        case lists:keyfind(App, 1, Given) of
            {App, U} -> {"store", U};
            false ->
                case user_appup(Target, Project, App) of
                    {S, U} -> {S, U};
                    none -> {"generated", generate(Old, New, App, OV, NV)}
                end
        end,
    check_appup(App, Src, Appup, OV, NV),
    Text = [?GENERATED, io_lib:format("%% ~ts~n~tp.~n", [Src, Appup])],
    ok = file:write_file(Target, Text),
    BuildEbin = filename:join([BuildLib, atom_to_list(App), "ebin"]),
    case BuildLib =/= "-" andalso filelib:is_dir(BuildEbin) of
        true -> ok = file:write_file(filename:join(BuildEbin, atom_to_list(App) ++ ".appup"), Text);
        false -> ok
    end,
    {App, Src, Appup}.

user_appup(Target, Project, App) ->
    Name = atom_to_list(App),
    Candidates = [{"ebin", Target},
                  {"src", filename:join([Project, "src", Name ++ ".appup.src"])},
                  {"src", filename:join([Project, "apps", Name, "src", Name ++ ".appup.src"])}],
    first_appup([C || {_, F} = C <- Candidates, filelib:is_regular(F)]).

first_appup([]) -> none;
first_appup([{"ebin", File} | More]) ->
    %% An appup deliver wrote in an earlier run (the build directory kept) is not the user's.
    case file:read_file(File) of
        {ok, <<?GENERATED, _/binary>>} -> first_appup(More);
        _ -> first_appup_file("ebin", File)
    end;
first_appup([{Src, File} | _]) ->
    first_appup_file(Src, File).

first_appup_file(Src, File) ->
    case file:script(File) of
        {ok, U} -> {Src ++ " " ++ File, U};
        {error, R} -> fail("~ts: ~ts", [File, format(R)])
    end.

check_appup(App, Src, {NV, Up, Down}, OV, NV) when is_list(Up), is_list(Down) ->
    Covers = fun(L) -> lists:any(fun({V, _}) -> matches(V, OV) end, L) end,
    (Covers(Up) andalso Covers(Down)) orelse
        fail("the ~ts appup of ~s has no up and down instructions for ~ts", [Src, App, OV]);
check_appup(App, Src, U, OV, NV) ->
    fail("the ~ts appup of ~s is not {\"~ts\", [{\"~ts\", Up}], [{\"~ts\", Down}]}: ~tp", [Src, App, NV, OV, OV, U]).

matches(V, V) -> true;
matches(V, OV) when is_binary(V) -> re:run(OV, V, [{capture, none}, anchored, unicode]) =:= match
                                    andalso re:run(OV, <<V/binary, "$">>, [{capture, none}]) =:= match;
matches(_, _) -> false.

generate(Old, New, App, OV, NV) ->
    OldMods = beams(ebin(Old, App, OV)),
    NewMods = beams(ebin(New, App, NV)),
    Added = [M || {M, _} <- NewMods, not lists:keymember(M, 1, OldMods)],
    Deleted = [M || {M, _} <- OldMods, not lists:keymember(M, 1, NewMods)],
    Changed = [{M, F} || {M, F} <- NewMods, {M1, OF} <- OldMods, M1 =:= M, md5(F) =/= md5(OF)],
    Up = [{add_module, M} || M <- Added] ++ [instruction(M, F) || {M, F} <- Changed] ++ [{delete_module, M} || M <- Deleted],
    Down = [{add_module, M} || M <- Deleted] ++ [instruction(M, F) || {M, F} <- lists:reverse(Changed)] ++ [{delete_module, M} || M <- Added],
    {NV, [{OV, Up}], [{OV, Down}]}.

changed_modules(Old, New, App, OV, NV) ->
    OldMods = beams(ebin(Old, App, OV)),
    [M || {M, F} <- beams(ebin(New, App, NV)), {M1, OF} <- OldMods, M1 =:= M, md5(F) =/= md5(OF)]
        ++ [M || {M, _} <- OldMods, not lists:keymember(M, 1, beams(ebin(New, App, NV)))].

beams(Dir) ->
    lists:sort([{list_to_atom(filename:basename(F, ".beam")), F} || F <- filelib:wildcard(filename:join(Dir, "*.beam"))]).

md5(File) ->
    {ok, {_, Md5}} = beam_lib:md5(File),
    Md5.

%% Processes running a behaviour's callback module get code_change; supervisors re-read their child specs.
instruction(M, File) ->
    case behaviours(File) of
        B when B =/= [] ->
            case lists:any(fun(X) -> lists:member(X, [supervisor, 'Elixir.Supervisor']) end, B) of
                true -> {update, M, supervisor};
                false -> {update, M, {advanced, []}}
            end;
        [] -> {load_module, M}
    end.

-define(PROCESS_BEHAVIOURS, [gen_server, gen_statem, gen_event, gen_fsm, supervisor, supervisor_bridge,
                             'Elixir.GenServer', 'Elixir.Supervisor', 'Elixir.GenEvent', 'Elixir.DynamicSupervisor']).

behaviours(File) ->
    {ok, {_, [{attributes, Attrs}]}} = beam_lib:chunks(File, [attributes]),
    [B || {K, Bs} <- Attrs, K =:= behaviour orelse K =:= behavior, B <- Bs, lists:member(B, ?PROCESS_BEHAVIOURS)].

join([]) -> "";
join([H | T]) -> lists:flatten([H | [", " ++ X || X <- T]]).

%% ---- relup ----

relup(Old, New, Rel, OldVsn, NewVsn) ->
    {OldErts, OldApps} = read_rel(Old, Rel, OldVsn),
    {NewErts, NewApps} = read_rel(New, Rel, NewVsn),
    check_sasl(Old, New, Rel, OldVsn, NewVsn),
    OldErts =:= NewErts orelse
        io:format("warning: ERTS changes from ~s to ~s: the upgrade restarts the emulator~n", [OldErts, NewErts]),
    Path = [ebin(Old, A, V) || {A, V} <- OldApps] ++ [ebin(New, A, V) || {A, V} <- NewApps],
    OutDir = filename:join([New, "releases", NewVsn]),
    NewRel = filename:rootname(rel_file(New, Rel, NewVsn)),
    OldRel = filename:rootname(rel_file(Old, Rel, OldVsn)),
    case systools:make_relup(NewRel, [OldRel], [OldRel], [{path, Path}, {outdir, OutDir}, silent, no_warn_sasl]) of
        {ok, _, _, Warnings} ->
            [io:format("warning: ~ts~n", [systools:format_warning(W)]) || W <- Warnings],
            check_relup(filename:join(OutDir, "relup"), OldVsn, NewVsn);
        {error, Mod, Reason} -> fail("systools:make_relup: ~ts", [Mod:format_error(Reason)])
    end.

check_relup(File, OldVsn, NewVsn) ->
    case file:consult(File) of
        {ok, [{NewVsn, Ups, Downs}]} ->
            case {lists:keyfind(OldVsn, 1, Ups), lists:keyfind(OldVsn, 1, Downs)} of
                {{_, _, Up}, {_, _, _}} -> io:format("relup ~s ~s ~p~n", [OldVsn, NewVsn, length(Up)]);
                _ -> fail("~ts upgrades to ~ts from ~ts, not from ~ts", [File, NewVsn, join([V || {V, _, _} <- Ups]), OldVsn])
            end;
        {ok, [{Other, _, _}]} -> fail("~ts upgrades to ~tp, not to ~ts", [File, Other, NewVsn]);
        {ok, _} -> fail("~ts is not a relup", [File]);
        {error, R} -> fail("cannot read ~ts: ~ts", [File, format(R)])
    end.
`;
